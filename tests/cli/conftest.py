from tests.models.fixtures import model_dir  # noqa: F401
