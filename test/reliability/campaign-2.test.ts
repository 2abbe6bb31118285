/** The reliability campaign, sampled for CI: part 2 of 2 (see campaign-sample.ts), in its own file so the runner runs it alongside part 1. */
import { campaignPart } from './campaign-sample.js'

campaignPart(2, 2)
