from __future__ import annotations

import os

from django.contrib.auth import views as auth_views
from django.urls import include, path
from oauth2_provider import urls as dot_urls

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("o/", include(dot_urls)),
]
if os.environ.get("DOT_METADATA_AT_ROOT"):
    # RFC 8414 section 3.1 path insertion, as DOT's docs advise for a prefixed deployment.
    urlpatterns.append(path("", include((dot_urls.metadata_urlpatterns, "root_metadata"))))
