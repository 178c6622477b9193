package piv

// slotKinds are the kinds of slot keys go in (Abilities.SlotKinds): "root"
// is slot 9c, one root key per card; "other" are the retired key-management
// slots 82-95, then 9a and 9d, for every other key.
var slotKinds = []string{"root", "other"}
