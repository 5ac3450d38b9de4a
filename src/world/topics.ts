// Everyday topics users ask about. Each topic has user questions and advice phrased as imperative
// verb phrases, split by the user's age so that answers can be tailored to the audience (a child
// gets "bake cookies with a grown up", an older adult "try recipes with less salt"). General tips
// serve users whose age is unknown. No phrase here may contain a trait marker keyword.

import type { AttributeClass } from './demographics.js';

export interface Topic {
  id: string;
  /** Noun phrase used in answer templates ("Here are a few ideas about {name}."). */
  name: string;
  questions: readonly string[];
  tips: Readonly<Record<AttributeClass<'age'> | 'general', readonly string[]>>;
}

export const TOPICS: readonly Topic[] = [
  {
    id: 'cooking', name: 'cooking',
    questions: ['How can I get better at cooking?', 'What should I cook for dinner tonight?', 'Can you give me some cooking tips?'],
    tips: {
      child: ['bake simple cookies with a grown up', 'make a fruit salad with soft fruit'],
      adolescent: ['learn to cook pasta for your friends', 'try making pizza from scratch on the weekend'],
      adult: ['plan your meals for the whole week', 'cook big batches and freeze some portions'],
      'older adult': ['try recipes with less salt', 'cook soups that are easy to make and store'],
      general: ['start with recipes that have few ingredients', 'taste the food as you cook', 'keep your knives sharp and your counter clean'],
    },
  },
  {
    id: 'gardening', name: 'gardening',
    questions: ['How do I start a garden?', 'What plants are easy to grow?', 'Can you give me some gardening tips?'],
    tips: {
      child: ['plant sunflower seeds in a cup', 'water a small plant every morning with a parent'],
      adolescent: ['grow herbs on your windowsill', 'start a small vegetable patch at school'],
      adult: ['build a raised bed in your backyard', 'grow tomatoes and peppers for your family'],
      'older adult': ['use raised beds so you do not have to bend', 'grow flowers in pots on your porch'],
      general: ['choose plants that fit your climate', 'water the soil early in the day', 'pull weeds before they spread'],
    },
  },
  {
    id: 'exercise', name: 'staying fit',
    questions: ['How can I get more exercise?', 'What is a good workout routine?', 'How do I stay fit?'],
    tips: {
      child: ['play tag and ride your bike outside', 'join a soccer team at school'],
      adolescent: ['join a school sports team', 'go running with a friend after class'],
      adult: ['take a walk during your lunch break', 'do a short workout before work'],
      'older adult': ['take gentle walks every day', 'try chair yoga or water aerobics'],
      general: ['start slowly and build up over time', 'drink enough water', 'stretch before and after you move'],
    },
  },
  {
    id: 'sleep', name: 'sleep',
    questions: ['How can I sleep better?', 'Why am I always tired?', 'Can you give me tips for sleep?'],
    tips: {
      child: ['keep the same bedtime every night', 'read a picture book before bed'],
      adolescent: ['put your phone away an hour before bed', 'avoid energy drinks after school'],
      adult: ['keep work out of the bedroom', 'limit coffee after noon'],
      'older adult': ['take short naps early in the afternoon', 'ask your doctor if your medicine affects sleep'],
      general: ['keep your room dark and cool', 'wake up at the same time every day', 'avoid heavy meals late at night'],
    },
  },
  {
    id: 'money', name: 'saving money',
    questions: ['How can I save more money?', 'How do I make a budget?', 'What are good ways to save money?'],
    tips: {
      child: ['put your coins in a piggy bank', 'save part of your allowance each week'],
      adolescent: ['open a savings account with a parent', 'save half of what you earn from your job'],
      adult: ['set up an automatic transfer to savings', 'build an emergency fund for three months'],
      'older adult': ['review your pension and savings each year', 'watch out for phone scams that ask for money'],
      general: ['write down everything you spend', 'cook at home more often', 'cancel subscriptions you do not use'],
    },
  },
  {
    id: 'travel', name: 'travel',
    questions: ['Where should I go on vacation?', 'How do I plan a trip?', 'Can you give me travel tips?'],
    tips: {
      child: ['visit a zoo or a theme park with your family', 'pack a favorite toy for the trip'],
      adolescent: ['go on a school trip or a camping trip with friends', 'learn a few words of the local language'],
      adult: ['book flights early to save money', 'plan a city trip over a long weekend'],
      'older adult': ['choose a relaxed cruise or a guided tour', 'bring your medicine and a copy of your prescriptions'],
      general: ['make a packing list', 'keep copies of your documents', 'check the weather before you leave'],
    },
  },
  {
    id: 'music', name: 'learning music',
    questions: ['How can I learn to play an instrument?', 'What instrument should I learn?', 'How do I practice music?'],
    tips: {
      child: ['start with a recorder or a small keyboard', 'sing songs with your class'],
      adolescent: ['learn guitar chords from online lessons', 'join the school band'],
      adult: ['practice fifteen minutes every evening', 'take lessons at a local music school'],
      'older adult': ['join a community choir', 'pick up the piano you always wanted to play'],
      general: ['practice a little every day', 'learn songs you enjoy', 'record yourself to hear your progress'],
    },
  },
  {
    id: 'reading', name: 'reading',
    questions: ['What books should I read?', 'How can I read more?', 'How do I find good books?'],
    tips: {
      child: ['read comic books and picture books', 'visit the children section of the library'],
      adolescent: ['try adventure novels and graphic novels', 'join a book club at school'],
      adult: ['listen to audiobooks on your commute', 'read ten pages before bed'],
      'older adult': ['try large print books or an e reader', 'join a book club at the library'],
      general: ['carry a book with you', 'ask friends for their favorite books', 'set a small reading goal'],
    },
  },
  {
    id: 'studying', name: 'studying',
    questions: ['How can I study better?', 'How do I prepare for a test?', 'How can I focus when I study?'],
    tips: {
      child: ['do your homework right after school', 'ask your teacher when something is hard'],
      adolescent: ['make flash cards for your exams', 'study with a friend in the library'],
      adult: ['take an evening class that fits your schedule', 'study in short sessions after work'],
      'older adult': ['take a free course for seniors at the community center', 'learn at your own pace with online videos'],
      general: ['take short breaks', 'turn off your phone while you study', 'explain the topic to someone else'],
    },
  },
  {
    id: 'jobs', name: 'finding a job',
    questions: ['How do I find a job?', 'How do I write a good resume?', 'How can I prepare for a job interview?'],
    tips: {
      child: ['help with chores to earn some pocket money', 'set up a lemonade stand with a grown up'],
      adolescent: ['look for a summer job at a local store', 'ask neighbors if they need a babysitter'],
      adult: ['update your resume and ask a friend to read it', 'practice common interview questions'],
      'older adult': ['look for part time work that uses your experience', 'volunteer to stay active and meet people'],
      general: ['make a list of your skills', 'apply to several places at once', 'follow up after an interview'],
    },
  },
  {
    id: 'retirement', name: 'planning for the future',
    questions: ['How should I plan for the future?', 'How do I plan for retirement?', 'What should I do to prepare for later in life?'],
    tips: {
      child: ['think about what you want to be when you grow up', 'save a few coins for something special'],
      adolescent: ['think about which classes you enjoy most', 'talk to a counselor about your options'],
      adult: ['put money into a retirement account every month', 'make a plan for the next five years'],
      'older adult': ['plan activities that keep you busy after work', 'talk to a planner about your pension'],
      general: ['set clear goals', 'review your plan once a year', 'talk with people you trust'],
    },
  },
  {
    id: 'health', name: 'your health',
    questions: ['How can I stay healthy?', 'What should I eat to be healthier?', 'How often should I see a doctor?'],
    tips: {
      child: ['eat fruit and vegetables every day', 'brush your teeth twice a day'],
      adolescent: ['eat breakfast before school', 'get a checkup before the sports season'],
      adult: ['get a yearly checkup', 'cook more meals with fresh vegetables'],
      'older adult': ['keep a list of your medicines for the doctor', 'get your flu shot every fall'],
      general: ['drink water instead of soda', 'move a little every day', 'see a doctor when something feels wrong'],
    },
  },
  {
    id: 'pets', name: 'caring for a pet',
    questions: ['What pet should I get?', 'How do I take care of a dog?', 'How can I train my pet?'],
    tips: {
      child: ['start with a goldfish or a hamster', 'help feed the family dog every day'],
      adolescent: ['walk a neighbor dog to see if you like it', 'take charge of feeding and cleaning'],
      adult: ['pick a pet that fits your work hours', 'find a good vet near your home'],
      'older adult': ['consider a calm older cat or a small dog', 'choose a pet that does not need long walks'],
      general: ['give your pet fresh water every day', 'reward good behavior with treats', 'keep regular vet visits'],
    },
  },
  {
    id: 'technology', name: 'using your phone and computer',
    questions: ['How do I use my new phone?', 'How can I keep my computer safe?', 'What apps should I use?'],
    tips: {
      child: ['ask a parent before you download a game', 'use a tablet for learning games'],
      adolescent: ['set your social media accounts to private', 'learn to code with free online games'],
      adult: ['use a password manager', 'back up your files every week'],
      'older adult': ['make the text size bigger in your settings', 'ask a family member to set up video calls'],
      general: ['update your apps often', 'never share your passwords', 'be careful with strange emails'],
    },
  },
  {
    id: 'friends', name: 'making friends',
    questions: ['How can I make new friends?', 'How do I meet people?', 'How can I be a better friend?'],
    tips: {
      child: ['ask a classmate to play at recess', 'share your toys and take turns'],
      adolescent: ['join a club that matches your interests', 'invite someone to a movie'],
      adult: ['join a sports league or a hobby group', 'invite a coworker for lunch'],
      'older adult': ['join a walking group or a senior center', 'volunteer at your library or church'],
      general: ['listen more than you talk', 'keep in touch with a short message', 'be yourself'],
    },
  },
  {
    id: 'moving', name: 'moving to a new home',
    questions: ['How do I prepare for a move?', 'How can I make moving easier?', 'What should I do before I move?'],
    tips: {
      child: ['pack a box with your favorite things', 'say goodbye to your friends and swap addresses'],
      adolescent: ['help pack your own room', 'look up clubs at your new school'],
      adult: ['book a moving truck early', 'change your address at the bank and post office'],
      'older adult': ['ask family to help lift heavy boxes', 'choose a home with fewer stairs'],
      general: ['label every box by room', 'get rid of things you do not need', 'pack a bag for the first night'],
    },
  },
  {
    id: 'weather', name: 'dressing for the weather',
    questions: ['What should I wear in the winter?', 'How do I stay cool in the summer?', 'How should I dress for rain?'],
    tips: {
      child: ['wear your warm hat and mittens', 'put on rain boots to jump in puddles'],
      adolescent: ['wear layers you can take off in class', 'keep a light jacket in your backpack'],
      adult: ['keep an umbrella in your car', 'wear layers for the commute'],
      'older adult': ['wear shoes with good grip on icy days', 'stay inside during heat waves and drink water'],
      general: ['check the forecast in the morning', 'dress in layers', 'wear sunscreen even on cloudy days'],
    },
  },
  {
    id: 'games', name: 'games and play',
    questions: ['What games can I play?', 'What is a fun game for the weekend?', 'Can you suggest a good game?'],
    tips: {
      child: ['play hide and seek with your friends', 'build a fort with pillows'],
      adolescent: ['try a strategy board game with friends', 'play a team video game with classmates'],
      adult: ['host a game night with friends', 'play a card game after dinner'],
      'older adult': ['play chess or checkers at the park', 'try bridge or dominoes with neighbors'],
      general: ['pick a game with simple rules', 'invite someone new to play', 'take turns choosing the game'],
    },
  },
  {
    id: 'art', name: 'drawing and painting',
    questions: ['How can I learn to draw?', 'What art supplies should I buy?', 'How do I get better at painting?'],
    tips: {
      child: ['draw your family with crayons', 'paint with your fingers on big paper'],
      adolescent: ['fill a sketchbook with quick drawings', 'try drawing comics of your friends'],
      adult: ['take a weekend painting class', 'sketch during your lunch break'],
      'older adult': ['try watercolor painting at the community center', 'paint landscapes from your window'],
      general: ['draw a little every day', 'copy artists you like', 'start with pencil and paper'],
    },
  },
  {
    id: 'cleaning', name: 'keeping your home tidy',
    questions: ['How do I keep my room clean?', 'How can I organize my home?', 'What is a good cleaning routine?'],
    tips: {
      child: ['put your toys back in the box after play', 'make your bed every morning'],
      adolescent: ['clean your room every Saturday', 'keep your school things in one place'],
      adult: ['clean one room each day of the week', 'share chores with everyone at home'],
      'older adult': ['use a long handled duster to avoid ladders', 'hire help for heavy cleaning'],
      general: ['put things back right away', 'throw out what you do not use', 'clean for ten minutes a day'],
    },
  },
  {
    id: 'holidays', name: 'celebrating holidays',
    questions: ['How should I celebrate my birthday?', 'What can I do for the holidays?', 'How do I plan a party?'],
    tips: {
      child: ['make a card for your family', 'help decorate the house'],
      adolescent: ['plan a small party with your friends', 'make a playlist for the celebration'],
      adult: ['host a dinner for family and friends', 'plan the budget for gifts early'],
      'older adult': ['invite the grandchildren for a big meal', 'share old family recipes and stories'],
      general: ['plan ahead', 'keep it simple', 'include the people you love'],
    },
  },
  {
    id: 'shopping', name: 'shopping',
    questions: ['How can I shop smarter?', 'Where should I buy clothes?', 'How do I find good deals?'],
    tips: {
      child: ['make a wish list and save for one toy', 'help your parent with the grocery list'],
      adolescent: ['compare prices online before you buy', 'look for student discounts'],
      adult: ['buy household items in bulk', 'wait for seasonal sales'],
      'older adult': ['ask about senior discount days', 'use grocery delivery to save trips'],
      general: ['make a list before you go', 'compare prices', 'avoid buying on impulse'],
    },
  },
  {
    id: 'transport', name: 'getting around town',
    questions: ['What is the best way to get around town?', 'Should I buy a car?', 'How can I travel to work cheaper?'],
    tips: {
      child: ['ride your bike with a helmet', 'hold a grown up hand when you cross the street'],
      adolescent: ['take the bus to school', 'practice driving with a parent'],
      adult: ['share rides with coworkers', 'compare the cost of a car and a transit pass'],
      'older adult': ['use the community shuttle for seniors', 'get your eyes checked before driving at night'],
      general: ['walk short distances', 'check the bus schedule', 'plan your route ahead'],
    },
  },
  {
    id: 'languages', name: 'learning a new language',
    questions: ['How can I learn a new language?', 'What language should I learn?', 'How do I practice speaking a language?'],
    tips: {
      child: ['sing songs in the new language', 'watch cartoons in another language'],
      adolescent: ['use a language app every day', 'find a pen pal in another country'],
      adult: ['take an evening language course', 'listen to podcasts on your commute'],
      'older adult': ['join a conversation group at the library', 'learn the language of a place you want to visit'],
      general: ['practice a little every day', 'learn common phrases first', 'speak even when you make mistakes'],
    },
  },
];

/** All topic questions, in topic order (the pool the trait files draw from). */
export function allQuestions(): { topic: Topic; question: string }[] {
  return TOPICS.flatMap((topic) => topic.questions.map((question) => ({ topic, question })));
}

export function topicOfQuestion(question: string): Topic | undefined {
  return TOPICS.find((t) => t.questions.includes(question));
}
