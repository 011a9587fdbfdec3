from amlrun.entry import main

main()
