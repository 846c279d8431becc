"""The `lsa` subcommands, one module per concern, each with its commands' argument builders and
handlers; `lsa.cli` wires them into one parser behind one error boundary.

  instances    generate, serialize          solving    solve, methods, exec
  evaluation   evaluate                     limit      best-known
  training     pretrain, train, rl-train    reports    figures, report, plan
  models       model, cold-start            kernels    warmup
"""
