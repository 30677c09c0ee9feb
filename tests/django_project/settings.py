"""Settings of the test project: the service's address and the SQLite file come from the environment."""

import os

SECRET_KEY = "test-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = "tests.django_project.urls"
INSTALLED_APPS = ["django.contrib.contenttypes", "postgrip_agent.contrib.django", "tests.django_project.shop"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ.get("SHOP_DB", ":memory:")}}
POSTGRIP = {
    "ADDRESS": os.environ.get("POSTGRIP_TEST_ADDRESS", "http://127.0.0.1:1"),
    "TASK_QUEUE": "shop",
    "GRACE": 10,
    "RETRY_SECONDS": 0.5,
}
