"""Give the role groups the model permissions that match their work.

The back office checks roles on every view (backoffice.roles.has_role); these permissions
make the same roles meaningful in the Django admin and to anything that asks
``user.has_perm``. Only views and the enforcement actions are granted: rows change through
the services, never through the admin's forms.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW_ALL = [
    ("sellers", "marketplace"),
    ("sellers", "category"),
    ("sellers", "merchant"),
    ("sellers", "listing"),
    ("moderation", "policy"),
    ("moderation", "categoryremoval"),
    ("moderation", "detectionrule"),
    ("moderation", "reviewitem"),
    ("moderation", "violation"),
    ("moderation", "notice"),
    ("moderation", "auditevent"),
]
GRANTS = {
    "moderator": [f"view_{model}" for _, model in VIEW_ALL] + ["change_reviewitem", "add_violation"],
    "senior moderator": [f"view_{model}" for _, model in VIEW_ALL] + ["change_reviewitem", "add_violation"],
    "policy admin": [f"view_{model}" for _, model in VIEW_ALL]
    + [
        "add_policy",
        "change_policy",
        "add_categoryremoval",
        "change_categoryremoval",
        "add_detectionrule",
        "change_detectionrule",
        "add_category",
    ],
}


def grant(apps, schema_editor):
    # Permissions are normally created after all migrations; make sure they exist now.
    for label in ["sellers", "moderation"]:
        config = apps.get_app_config(label)
        config.models_module = True  # the stub has none; create_permissions skips apps without
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, codenames in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.add(*Permission.objects.filter(codename__in=codenames))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name__in=GRANTS):
        group.permissions.clear()


class Migration(migrations.Migration):
    dependencies = [
        ("moderation", "0010_removal_chunk_size"),
        ("sellers", "0002_policies_and_removals"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
