"""The debtor: state rules, proposals, decisions, prompt building and reply guards.

Import from the submodules (`simulator.debtor.engine`, `.prompt`, `.guards`…).
"""
