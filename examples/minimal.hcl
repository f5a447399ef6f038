# The smallest useful configuration: one ClickPesa account whose verified
# payment events are delivered to one local service.

api {
  tokens = [env("FINCONNECT_API_TOKEN")]
}

provider "clickpesa" "tz" {
  client_id = env("CLICKPESA_CLIENT_ID")
  api_key   = env("CLICKPESA_API_KEY")
}

route "clickpesa" {
  provider = provider.clickpesa.tz
  path     = "/hooks/clickpesa"

  forward {
    url    = "http://127.0.0.1:9000/payments/events"
    secret = env("WEBHOOK_SECRET")
  }
}
