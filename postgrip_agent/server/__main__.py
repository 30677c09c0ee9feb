from ..cli import main

raise SystemExit(main(["server", *__import__("sys").argv[1:]]))
