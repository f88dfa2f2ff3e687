"""The bounded sandbox: hostile templates fail with their reason, ordinary ones still render.

Each refusal here burned CPU or memory without bound before (``9**(9**7)`` was folded at
compile time for ~20 s with the GIL held); now each ends with a ``RenderError`` naming the
limit. No test times anything: they assert what the render answered.
"""

from __future__ import annotations

import pytest
from django.utils import translation

from terminflow.mail import rendering
from terminflow.mail.rendering import Formatting, RenderError, render_part, scoped

ZURICH = Formatting(locale="de-CH", timezone="Europe/Zurich")
T = "\u2009"  # thousands separator in the limit messages


def too_long(what: str, size: int, limit: int) -> str:
    return (
        f"{what} would have {size:,} characters or items; at most {limit:,} are allowed"
    ).replace(",", T)


def render(source: str, **context: object) -> str:
    return render_part("body_text", source, {k: scoped(k, v) for k, v in context.items()}, ZURICH)


def refusal(source: str, **context: object) -> str:
    with translation.override("en"), pytest.raises(RenderError) as caught:
        render(source, **context)
    return caught.value.message


@pytest.mark.parametrize(
    ("source", "message"),
    [
        # arithmetic, refused before Python computes it (and never folded while compiling)
        ("{{ 9**(9**7) }}", "** would make a number larger than 4096 bits"),
        ("{% set x = 9 %}{{ x ** 100000 }}", "** would make a number larger than 4096 bits"),
        (
            "{% set ns = namespace(n=3) %}{% for i in range(60) %}"
            "{% set ns.n = ns.n * ns.n %}{% endfor %}",
            "* would make a number larger than 4096 bits",
        ),
        (
            "{{ 'x' * 10**9 }}",
            too_long("*", 1_000_000_000, 1_000_000),
        ),
        (
            "{{ [1] * 10**8 }}",
            too_long("*", 100_000_000, 100_000),
        ),
        # growth by doubling, one step at a time
        (
            "{% set ns = namespace(s='x') %}{% for i in range(60) %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
            too_long("~", 1_048_576, 1_000_000),
        ),
        (
            "{% set ns = namespace(s='x') %}{% for i in range(60) %}"
            "{% set ns.s = ns.s + ns.s %}{% endfor %}",
            too_long("+", 1_048_576, 1_000_000),
        ),
        # one C call that would allocate gigabytes
        (
            "{{ 'x'.center(10**8) }}",
            too_long("center", 100_000_000, 1_000_000),
        ),
        (
            "{{ 'x'|center(10**8) }}",
            too_long("center", 100_000_000, 1_000_000),
        ),
        (
            "{{ '{:>999999999}'.format(1) }}",
            "format: a width or precision of 999999999 is over the limit of 10000",
        ),
        (
            "{{ '%999999999s'|format(1) }}",
            "%-format: a width or precision of 999999999 is over the limit of 10000",
        ),
        (
            "{{ '%999999999s' % 1 }}",
            "%-format: a width or precision of 999999999 is over the limit of 10000",
        ),
        (
            "{{ '{:{w}}'.format(1, w=10**9) }}",
            "format: nested fields in a format specification are not allowed",
        ),
        (
            "{{ ('x'*1000)|replace('x', 'x'*1000)|replace('x', 'x'*1000) }}",
            too_long("replace", 1_000_000_000, 1_000_000),
        ),
        (
            "{{ ('x'*1000).replace('x', 'x'*1000).replace('x', 'x'*1000) }}",
            too_long("replace", 1_000_000_000, 1_000_000),
        ),
        (
            "{{ range(10000)|join('x'*100000) }}",
            too_long("join", 999_900_000, 1_000_000),
        ),
        (
            "{{ ('x\n'*1000)|indent(10**6) }}",
            too_long("indent", 1_001_002_000, 1_000_000),
        ),
        (
            "{{ [1]|slice(10**9)|list }}",
            too_long("slice", 1_000_000_000, 100_000),
        ),
        (
            "{{ [1]|batch(10**9, 'x')|list }}",
            too_long("batch", 1_000_000_000, 100_000),
        ),
        ("{{ (1).to_bytes(10**9, 'big') }}", "to_bytes() is not allowed in templates"),
        ("{{ 'x'.translate({120: 'y'*1000}) }}", "translate() is not allowed in templates"),
        # loops, output and recursion
        (
            "{{ range(10**6)|length }}",
            too_long("range", 1_000_000, 10_000),
        ),
        (
            "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
            f"the template's loops ran more than 100{T}000 times",
        ),
        (
            "{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}",
            f"the rendered text would be longer than 1{T}000{T}000 characters",
        ),
        (
            "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
            "the template nests or calls itself too deeply",
        ),
        (
            "{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}",
            "the template nests or calls itself too deeply",
        ),
    ],
)
def test_a_template_over_a_limit_fails_with_the_limit_it_broke(source: str, message: str) -> None:
    assert refusal(source) == message


def test_deep_nesting_fails_while_compiling_with_a_reason() -> None:
    source = "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}"

    assert refusal(source) == "the template nests or calls itself too deeply"


@pytest.mark.parametrize(
    "source",
    [
        # exponential macro recursion: each call is cheap, there are 2**40 of them
        "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
        "{{ f(40) }}",
        # nested loops under the iteration limit, each iteration sorting a list
        "{% for i in range(300) %}{% for j in range(300) %}"
        "{{ range(3000)|reverse|sort|first }}{% endfor %}{% endfor %}",
        # one filter call that loops in Python for a long time (the profile hook stops it)
        "{{ ('a ' * 300000)|wordwrap(4) }}",
    ],
)
def test_a_template_over_its_budget_fails_with_the_budget(source: str) -> None:
    with rendering.budget(0.2):
        message = refusal(source)

    assert message == "the template took longer than its 0.2 s budget to render"


def test_the_budget_message_is_german_in_german() -> None:
    source = "{% for i in range(300) %}{% for j in range(300) %}{{ range(3000)|sort|first }}"

    with translation.override("de"), rendering.budget(0.1), pytest.raises(RenderError) as caught:
        render(source + "{% endfor %}{% endfor %}")

    assert str(caught.value) == (
        "Vorlagenfehler in body_text, Zeile 1: "
        "das Rendern der Vorlage dauerte länger als ihr Zeitbudget von 0.1 s"
    )


def test_ordinary_templates_render_as_before() -> None:
    source = (
        "{% for tag in contact.tags %}{{ loop.index }}. {{ tag|upper }}\n{% endfor %}"
        "{{ '{:>6}'.format(contact.first_name) }}|{{ '%05d' % 42 }}|{{ 'ab' * 3 }}|"
        "{{ contact.first_name|center(9) }}|{{ range(5)|join(',') }}|{{ [1, 2] + [3] }}|"
        "{{ 2 ** 10 }}|{{ [3, 1, 2]|sort|sum }}|{{ 'a-b'.replace('-', '+') }}|"
        "{% set ns = namespace(total=0) %}{% for i in range(4) %}"
        "{% set ns.total = ns.total + i %}{% endfor %}{{ ns.total }}"
    )

    text = render(source, contact={"first_name": "Anna", "tags": ["vip", "neu"]})

    assert text == (
        "1. VIP\n2. NEU\n  Anna|00042|ababab|   Anna  |0,1,2,3,4|[1, 2, 3]|1024|6|a+b|6"
    )
