import cProfile, pstats, sys
sys.argv=['workbench','attribution','/tmp/paths_1m.csv','--model','markov','--json']
from workbench.cli import main
pr=cProfile.Profile(); pr.enable()
try: main()
except SystemExit: pass
pr.disable()
pstats.Stats(pr).sort_stats("cumulative").print_stats(25)
