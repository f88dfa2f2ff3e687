"""eTermin elements saved while their workspace had one account store that account's id.

Before, an element without ``account_id`` meant "the only account"; connecting a second account
then made every such element ambiguous and the campaign stopped reacting. The only account of
the element's workspace at migration time is the one it was built for.
"""

from django.db import migrations


def fill_account_ids(apps, schema_editor):
    Element = apps.get_model("campaigns", "Element")
    EterminAccount = apps.get_model("etermin", "EterminAccount")
    accounts: dict[int, list[int]] = {}
    for account_id, workspace_id in EterminAccount.objects.values_list("id", "workspace_id"):
        accounts.setdefault(workspace_id, []).append(account_id)
    changed = []
    for element in Element.objects.filter(type="etermin.appointment").select_related("campaign"):
        config = dict(element.config or {})
        if config.get("account_id") is not None:
            continue
        found = accounts.get(element.campaign.workspace_id, [])
        if len(found) != 1:
            continue
        config["account_id"] = found[0]
        element.config = config
        changed.append(element)
    Element.objects.bulk_update(changed, ["config"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("etermin", "0006_inbox_body_retention"),
        ("campaigns", "0003_run_wait_until_alter_enrollment_status"),
    ]

    operations = [migrations.RunPython(fill_account_ids, migrations.RunPython.noop)]
