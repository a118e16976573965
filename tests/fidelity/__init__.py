"""The fidelity matrix's harness: one request vocabulary for the four client SDKs, one reader of
what each fake upstream received, and scripted answers in each upstream's own wire format."""
