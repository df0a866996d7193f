from pkgharvest.cli import main

main()
