api {
  tokens = [env("TOKEN")]
}

provider "pesapal" "ke" {
  environment     = "live"
  consumer_key    = env("KEY")
  consumer_secret = env("KEY")
  base_url        = "http://pesapal.example.com/v3" # ERROR: Plain http with a live provider
}

route "pesapal" {
  provider = provider.pesapal.ke
  path     = "/hooks/pesapal"

  forward {
    url    = "http://127.0.0.1:9000/events"
    secret = env("WEBHOOK_SECRET")
  }
}
