"""Keeping a conversation alive across providers: who produced what (``index``) and the body each
provider may see (``rewrite``)."""
