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

ipn "orders" {
  provider = provider.pesapal.ke
  url      = "https://pay.example.com/hooks/pesapal"
}

ipn "orders" { # ERROR: Duplicate ipn
  provider = provider.pesapal.ke
  url      = "https://pay.example.com/hooks/pesapal2"
}
