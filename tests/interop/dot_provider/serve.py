"""Start django-oauth-toolkit for the interoperability suite: migrate a fresh sqlite database,
create the demo user and the BFF's application from DOT_* variables, serve on DOT_PORT."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from oauth2_provider.models import get_application_model  # noqa: E402
from werkzeug.serving import run_simple  # noqa: E402


def main() -> None:
    call_command("migrate", verbosity=0)
    get_user_model().objects.create_user(
        "alice", "alice@example.test", "wonderland", first_name="Alice", last_name="Liddell")
    get_application_model().objects.create(
        name="bff", client_id=os.environ["DOT_CLIENT_ID"],
        client_secret=os.environ["DOT_CLIENT_SECRET"],
        client_type="confidential", authorization_grant_type="authorization-code",
        redirect_uris=os.environ["DOT_REDIRECT_URI"],
        post_logout_redirect_uris=os.environ["DOT_POST_LOGOUT_URI"],
        algorithm="RS256", skip_authorization=True)
    run_simple("127.0.0.1", int(os.environ["DOT_PORT"]), get_wsgi_application(),
               threaded=True)


if __name__ == "__main__":
    main()
