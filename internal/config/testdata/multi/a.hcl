# Five mistakes in two files; validate reports all of them.

api {
  tokens = [env("TOKEN")]
}

provider "pesapal" "ke" {
  environment     = "production" # 1: not sandbox or live
  consumer_key    = env("KEY")
  consumer_secret = env("KEY")
}

provider "clickpesa" "tz" {
  client_id    = env("KEY")
  api_key      = env("KEY")
  consumer_key = env("KEY") # 2: a PesaPal argument
}
