from amlrun.cli import main

main()
