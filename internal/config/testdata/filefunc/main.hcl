api {
  tokens = [trimspace(file("secrets/clickpesa.key"))]
}

provider "clickpesa" "tz" {
  client_id    = env("KEY")
  api_key      = upper(env("KEY"))
  checksum_key = file("secrets/clickpesa.key")
}

route "clickpesa" {
  provider = provider.clickpesa.tz
  path     = "/hooks/${lower("ClickPesa")}"

  forward {
    url    = format("http://%s:%d/events", "127.0.0.1", 9000)
    secret = env("WEBHOOK_SECRET")
  }
}
