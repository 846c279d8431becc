"""Running untrusted generated programs (docs/sandbox.md): static checks against the allow-list, the runner
(a sandboxed child per program: OS layer, limits, kill, streamed offers), repair of whatever comes
back, and the primitives API (`NetView`) that programs call. Assume every program is hostile.
"""
