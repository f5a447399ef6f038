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

provider "azampay" "tz" {
  environment   = "sandbox"
  app_name      = "shop"
  client_id     = env("KEY")
  client_secret = env("KEY")
  api_key       = env("KEY")
  callback_proof = "trust" # ERROR: Invalid callback_proof
}
