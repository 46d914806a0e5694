"""Create the CSR group with the permission the CSR screens require (pevportal.roles)."""

from django.db import migrations


def create_csr_group(apps, schema_editor):
    # Permissions are normally created after all migrations have run; create ours here so the group can
    # hold it. post_migrate's create_permissions later finds it and leaves it alone.
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    content_type, _ = ContentType.objects.get_or_create(app_label="pevportal", model="auditrecord")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type,
        codename="csr_access",
        defaults={"name": "Can use the customer service (CSR) screens"},
    )
    group, _ = Group.objects.get_or_create(name="CSR")
    group.permissions.add(permission)


def remove_csr_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="CSR").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("pevportal", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_csr_group, remove_csr_group)]
