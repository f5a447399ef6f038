api {
  token "finance" {
    value  = env("FINANCE_TOKEN")
    scopes = ["payouts"]
  }
}

payouts {
  limit "TZS" {
    max_per_24h = 1000000
  }
  limit "TZS" { # ERROR: Duplicate limit
    max_per_payout = "5000"
  }
}
