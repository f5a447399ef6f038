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
    url    = "https://user:pass@hooks.example.com/events" # ERROR: Credentials in URL
    secret = env("WEBHOOK_SECRET")
  }
}
