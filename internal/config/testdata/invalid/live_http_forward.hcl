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
    url    = "http://hooks.example.com/events" # ERROR: Plain http with a live provider
    secret = env("WEBHOOK_SECRET")
  }
}
