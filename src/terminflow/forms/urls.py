"""The public sign-up page (included at the top: ``/f/<public_id>``)."""

from django.urls import path

from . import views

app_name = "forms"

urlpatterns = [
    path("f/<str:public_id>", views.page, name="page"),
]
