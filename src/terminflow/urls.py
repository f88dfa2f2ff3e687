from django.contrib import admin
from django.urls import include, path

from terminflow.web.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("", include("terminflow.forms.urls")),
    path("", include("terminflow.web.urls")),
]
