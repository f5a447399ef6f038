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
    secret = env("NOT_A_WEBHOOK_SECRET") # ERROR: Invalid webhook secret
  }
}
