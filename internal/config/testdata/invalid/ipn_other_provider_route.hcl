api {
  tokens = [env("TOKEN")]
}

provider "pesapal" "ke" {
  environment     = "sandbox"
  consumer_key    = env("KEY")
  consumer_secret = env("KEY")
}

route "pesapal" {
  provider = provider.pesapal.ke
  path     = "/hooks/pesapal"

  forward {
    url    = "http://127.0.0.1:9000/events"
    secret = env("WEBHOOK_SECRET")
  }
}

provider "clickpesa" "tz" {
  client_id = env("KEY")
  api_key   = env("KEY")
}

route "clickpesa" {
  provider = provider.clickpesa.tz
  path     = "/hooks/clickpesa"

  forward {
    url    = "http://127.0.0.1:9000/events"
    secret = env("WEBHOOK_SECRET")
  }
}

ipn "orders" {
  provider = provider.pesapal.ke
  url      = "https://pay.example.com/hooks/clickpesa" # WARNING: IPN URL served by another provider's route
}
