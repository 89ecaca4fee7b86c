from study.cli.app import main

main()
