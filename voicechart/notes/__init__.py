"""Clinical notes dictated chairside: note mode, SOAP sections, a dental lexicon."""
