api {
  tokens = [env("TOKEN")]
}

server {
  public_url = "http://pay.example.com"
}

provider "pesapal" "ke" {
  environment     = "live"
  consumer_key    = env("KEY")
  consumer_secret = env("KEY")
}
