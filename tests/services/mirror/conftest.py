"""The task tests' published plan, for the mirror's tests of a unit's part."""

from tests.services.tasks.conftest import tasks_world  # noqa: F401 (fixture)
