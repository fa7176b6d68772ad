from outrigger.cli import main

main()
