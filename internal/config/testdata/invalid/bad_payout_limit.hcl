api {
  token "finance" {
    value  = env("FINANCE_TOKEN")
    scopes = ["payouts", "audit"]
  }
}

payouts {
  allowed_phone_prefixes = ["2557", "07x"] # ERROR: Invalid phone prefix

  limit "tzs" { # ERROR: Invalid currency
    max_per_24h = "1000.505" # ERROR: Invalid amount
  }

  limit "TZS" {
    max_per_payout = "5000" # ERROR: Limit above the daily limit
    max_per_24h    = 1000
  }

  limit "USD" { # ERROR: Empty limit
  }
}
