from django.db import migrations, models
from django.db.models.functions import Lower


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0003_image_file_unguessable_names"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="project",
            constraint=models.UniqueConstraint(Lower("slug"), name="project_slug_unique_ci"),
        ),
    ]
