from edgegen.training.letters.cli import main

main()
