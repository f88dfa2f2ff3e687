import time
import pytest
from django.db import connection
from terminflow.contacts import services
from terminflow.contacts.models import Contact, Tag
from tests.conftest import make_workspace

N = 1_000_000


def fill(ws):
    tag_common = Tag.objects.create(workspace=ws, name="common")
    tag_rare = Tag.objects.create(workspace=ws, name="rare")
    now = "2026-01-01 00:00:00+00:00"
    raw = connection.connection
    t = time.perf_counter()
    if connection.vendor == "postgresql":
        with raw.cursor() as cur:
            with cur.copy(
                "COPY contacts_contact (id, workspace_id, email, first_name, last_name, phone, email_status, fields, blocked_until, block_count, created_at, updated_at) FROM STDIN"
            ) as copy:
                for i in range(1, N + 1):
                    status = "unsubscribed" if i % 10000 == 0 else "confirmed_soi"
                    copy.write_row(
                        (
                            i,
                            ws.pk,
                            f"person{i}@example.ch",
                            f"First{i}",
                            f"Last{i}",
                            "",
                            status,
                            "{}",
                            None,
                            0,
                            now,
                            now,
                        )
                    )
            with cur.copy(
                "COPY contacts_contacttag (contact_id, tag_id, created_at) FROM STDIN"
            ) as copy:
                for i in range(2, N + 1, 2):
                    copy.write_row((i, tag_common.pk, now))
                for i in range(1, N + 1, N // 10):
                    copy.write_row((i, tag_rare.pk, now))
            cur.execute("SELECT setval(pg_get_serial_sequence('contacts_contact','id'), %s)", [N])
            cur.execute("ANALYZE")
    else:
        cur = raw.cursor()

        def rows():
            for i in range(1, N + 1):
                status = "unsubscribed" if i % 10000 == 0 else "confirmed_soi"
                yield (
                    i,
                    ws.pk,
                    f"person{i}@example.ch",
                    f"First{i}",
                    f"Last{i}",
                    "",
                    status,
                    "{}",
                    None,
                    0,
                    now,
                    now,
                )

        cur.executemany(
            "INSERT INTO contacts_contact (id, workspace_id, email, first_name, last_name, phone, email_status, fields, blocked_until, block_count, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            rows(),
        )
        cur.executemany(
            "INSERT INTO contacts_contacttag (contact_id, tag_id, created_at) VALUES (?,?,?)",
            ((i, tag_common.pk, now) for i in range(2, N + 1, 2)),
        )
        cur.executemany(
            "INSERT INTO contacts_contacttag (contact_id, tag_id, created_at) VALUES (?,?,?)",
            ((i, tag_rare.pk, now) for i in range(1, N + 1, N // 10)),
        )
        cur.execute("ANALYZE")
    print(f"\nfill {time.perf_counter() - t:.1f}s")


def timed(label, fn, repeat=5):
    best = 1e9
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    print(f"{label:40s} {best * 1000:8.2f} ms")
    return out


@pytest.mark.django_db(transaction=True)
def test_scale():
    ws = make_workspace()
    fill(ws)
    timed("list first page", lambda: services.list_contacts(ws, limit=50))
    timed("list deep page", lambda: services.list_contacts(ws, limit=50, before_id=500_000))
    timed("status unsubscribed (rare)", lambda: services.list_contacts(ws, status="unsubscribed"))
    timed(
        "status confirmed_soi (common)", lambda: services.list_contacts(ws, status="confirmed_soi")
    )
    timed("tag rare", lambda: services.list_contacts(ws, tag="rare"))
    timed("tag common", lambda: services.list_contacts(ws, tag="common"))
    timed("email", lambda: services.list_contacts(ws, email="Person777@example.ch"))
    timed("q common ('person')", lambda: services.list_contacts(ws, q="person"))
    timed("q rare ('person777777')", lambda: services.list_contacts(ws, q="person777777"), 2)
    timed("q none", lambda: services.list_contacts(ws, q="zzzz"), 2)
    timed("find_contact", lambda: services.find_contact(ws, "person123456@example.ch"))
    i = iter(range(10**9))
    timed(
        "booking existing",
        lambda: services.contact_from_booking(
            ws, email="person5@example.ch", first_name="", last_name="", phone="", source="x"
        ),
    )
    timed(
        "booking new",
        lambda: services.contact_from_booking(
            ws,
            email=f"new{next(i)}@example.ch",
            first_name="A",
            last_name="B",
            phone="",
            source="x",
        ),
        20,
    )
