"""Agora Cloud Recording REST client: wire models, error tree, limits and file naming (no Temporal).

Deliberately empty of imports: the workflow imports `agora.limits` inside the Temporal sandbox, and
importing that must not pull in httpx or pydantic. Import from the submodules (`agora.client`, ...).
"""
