"""Agora Cloud Recording REST client: wire models, error tree and file naming (no Temporal).

Agora's limits themselves live in `workflows.limits` (standard library only, so the workflow's request model can use
them inside Temporal's sandbox); this package raises a broken limit as its own RequestValidationError. Import from
the submodules (`agora.client`, ...).
"""
