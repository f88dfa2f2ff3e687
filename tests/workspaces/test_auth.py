from terminflow.workspaces.models import ApiToken


def test_healthz_needs_no_token(client):
    # when
    response = client.get("/healthz")
    # then
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_api_token_is_stored_only_as_hash(api):
    # given an issued token
    # then the clear token appears in no column
    record = ApiToken.objects.get(workspace=api.workspace)
    assert api.token not in {record.token_hash, record.prefix}
    assert len(record.token_hash) == 64


def test_api_without_token_is_401_with_code(client, db):
    # when
    response = client.get("/api/v1/etermin/accounts")
    # then
    assert response.status_code in {401, 404}
