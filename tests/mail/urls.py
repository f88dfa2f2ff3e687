"""Only while the web app's URLs are being written: the API and the mail pages alone."""

from django.urls import include, path

from terminflow.web.api import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("mail/", include("terminflow.mail.urls")),
]
