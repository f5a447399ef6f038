// Package recon reconciles finconnectd's payments with the providers' own
// records over a time window, both ways: every provider transaction of the
// window is matched with our payment of its reference, and every payment
// of ours with the provider's transaction. ClickPesa's records are read
// from its paginated list (a page per call, never a query per payment),
// and its payouts the same way, matched with our payouts and healed
// through the payouts' own status rule ((*payouts.Service).ApplyStatus);
// PesaPal and AzamPay, which have no list, are asked about each payment of
// the window that no provider notification proved settled, at a bounded
// rate.
//
// What differs is classified (state.DiffClass) and recorded once per key
// with both sides' records. Where the provider's own answer proves a
// status (it says succeeded and we say pending, unknown or failed; it says
// reversed and we say succeeded), the run applies it through the settler,
// so through state.Transition with state.SourceReconciliation and the
// payment's usual event; everything else stays open for a person, with a
// reconciliation.difference event. A run is leased (one per provider at a
// time across replicas), checkpointed after every page and resumed after
// a crash; its memory does not grow with the window.
//
// It never writes a payment or payout status itself and never starts or
// cancels a payment or a payout at a provider.
package recon
