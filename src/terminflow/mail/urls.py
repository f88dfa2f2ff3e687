"""Pages behind the links in emails: confirm, unsubscribe, web view (included under /mail/)."""

from django.urls import path

from . import views

app_name = "mail"

urlpatterns = [
    path("confirm/<str:token>/", views.confirm, name="confirm"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("view/<str:token>/", views.webview, name="webview"),
]
