from funchost.cli import main

main()
