api {
  tokens = [env("TOKEN")]
}

provider "pesapal" "ke" {
  environment     = "live"
  consumer_key    = env("KEY")
  consumer_secret = env("KEY")
}

route "pesapal" {
  provider = provider.pesapal.ke
  path     = "/hooks/pesapal"

  forward {
    url    = "https://hooks.example.com/events"
    secret = env("WEBHOOK_SECRET")
  }
}

ipn "orders" {
  provider = provider.pesapal.ke
  url      = "http://pay.example.com/hooks/pesapal" # ERROR: Plain http with a live provider
}
