# The synthetic world's models moved to the `simulator` app (simulator 0001).
# State only: their tables keep their names and rows.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ranking', '0002_modelversion'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='World'),
                migrations.DeleteModel(name='WorldTweet'),
                migrations.DeleteModel(name='WorldUser'),
            ],
        ),
        migrations.AlterField(
            model_name='modelversion',
            name='artifact',
            field=models.BinaryField(help_text='the zipped SavedModel (ranking.training.export)'),
        ),
        migrations.AlterField(
            model_name='modelversion',
            name='metrics',
            field=models.JSONField(blank=True, default=dict, help_text='validation metrics (ranking.training.evaluation)'),
        ),
    ]
