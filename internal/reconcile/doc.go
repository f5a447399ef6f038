// Package reconcile makes the providers match the configuration, the way
// Terraform does for infrastructure: refresh what the providers hold, diff it
// against the configuration and the state, render the plan (human text or
// JSON), save it, and apply it under the state lock, writing state after
// every resource.
//
// Resources are "ipn.NAME" (a PesaPal IPN registration) and
// "key.azampay.NAME" (AzamPay's public key, which the daemon verifies
// callbacks with). Both the CLI (plan, apply) and the daemon's reconcile
// schedule (Run) use it.
//
// It talks to providers only through Remote, a small interface declared here
// and built from provider clients by NewRemote. It never reads or writes a
// secret: plans, plan files and state hold addresses, actions and
// non-secret attributes only. It holds no package-level state.
package reconcile
